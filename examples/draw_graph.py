"""Draw the graph of a small least-squares loss, with values and the cotangents of a backward pass.

    python examples/draw_graph.py                # the listing with the rules, nothing written
    python examples/draw_graph.py out.png        # also draws it (Graphviz; without it, writes out.dot)

The README's picture is made by this script: python examples/draw_graph.py docs/graph.png
"""
import sys

import numpy as np

import tinygrad_mat as tm


def main(path=None):
    X = tm.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    y = tm.tensor([1.0, 0.0, 2.0])
    w = tm.tensor([0.5, -0.5], requires_grad=True)
    loss = ((X @ w - y) ** 2).mean()
    g = tm.graph(loss, names={"X": X, "y": y, "w": w})
    with g.capture():
        loss.backward()
    print(g.text(rules=True))
    if path is None:
        return None
    try:
        return g.render(path, show_values=True, show_grads=True)
    except (ImportError, RuntimeError) as error:  # no graphviz package, or no dot program
        dot_path = str(path).rsplit(".", 1)[0] + ".dot"
        with open(dot_path, "w") as out:
            out.write(g.to_dot(show_values=True, show_grads=True))
        print(f"({error}; wrote {dot_path})")
        return dot_path


if __name__ == "__main__":
    main(*sys.argv[1:])
