"""``python -m tinygrad_mat``: the demo; ``identities [--json]``: the notes' identities checked live;
``ops``: the op table with both rules."""
import sys


def main(argv):
    if argv and argv[0] == "identities":
        from .inspection import identities

        return identities.main(argv[1:])
    if argv and argv[0] == "ops":
        from . import ops

        print(ops.rule_table())
        print()
        print(ops.composite_table())
        return 0
    if argv:
        print("usage: python -m tinygrad_mat [identities [--json] | ops]", file=sys.stderr)
        return 2
    from .demo import main as demo

    demo()
    return 0


sys.exit(main(sys.argv[1:]))
