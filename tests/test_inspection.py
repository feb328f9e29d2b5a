"""Tools for studying backprop: the graph as text and DOT, the narrated pass, gradient checks, hooks,
anomaly detection and the notes' identities on the command line."""
import importlib.util
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_mat as tm


def two_op_graph():
    X = tm.tensor(np.arange(6.0).reshape(2, 3))
    W = tm.tensor(np.ones((3, 2)), requires_grad=True)
    return X, W, (X @ W).sum()


# ---------------------------------------------------------------- the graph as data


def test_graph_text_lists_the_nodes_like_a_program():
    X, W, y = two_op_graph()
    g = tm.graph(y, names={"X": X, "W": W})
    assert str(g).splitlines() == [
        "X : (2, 3)",
        "W : (3, 2) (requires grad)",
        "%1 = matmul(X : (2, 3), W : (3, 2)) -> (2, 2)",
        "%2 = sum(%1 : (2, 2)) -> ()",
    ]
    assert g.text(rules=True).splitlines()[2].endswith("# reverse: Ā = Z̄ Bᵀ,  B̄ = Aᵀ Z̄   forward: Ż = Ȧ B + A Ḃ")
    assert [n.op for n in g] == ["matmul", "sum"] and g.nodes[0].inputs == ["X", "W"]
    assert y.op == "sum" and y.inputs[0].op == "matmul" and y.inputs[0].inputs[1] is W


def test_graph_captures_the_cotangent_reaching_each_node_and_writes_dot():
    X, W, y = two_op_graph()
    g = tm.graph(y, names={"X": X, "W": W})
    with g.capture():
        y.backward()
    np.testing.assert_array_equal(g.nodes[0].cotangent, np.ones((2, 2)))
    dot = g.to_dot(show_values=True, show_grads=True)
    assert dot.startswith("digraph tinygrad_mat {") and dot.rstrip().endswith("}")
    for expected in ('"X" -> "%1";', '"W" -> "%1";', '"%1" -> "%2";', "cotangent [[1., 1.],", "grad [[3., 3.],"):
        assert expected in dot, expected
    html = g._repr_html_()
    assert html.startswith("<svg") or html.startswith("<?xml") or ("%1 = matmul" in html)
    with pytest.raises(ValueError, match="already released by backward"):
        tm.graph(y)


# Graphviz's `dot` is a system program, not a pip package: a machine with only Python and pip lacks it.
@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed (apt-get install graphviz)")
def test_dot_is_accepted_by_graphviz(tmp_path):
    _, _, y = two_op_graph()
    source = tmp_path / "g.dot"
    source.write_text(tm.graph(y).to_dot(show_values=True))
    result = subprocess.run(["dot", "-Tsvg", str(source)], capture_output=True, text=True)
    assert result.returncode == 0 and "<svg" in result.stdout, result.stderr


# ---------------------------------------------------------------- the narrated pass


def test_explain_records_every_rule_with_shapes_norms_and_times():
    X, W, y = two_op_graph()
    with tm.explain() as log:
        y.backward()
    assert [r["op"] for r in log] == ["sum", "matmul"]
    matmul = log[1]
    assert matmul["in_shape"] == (2, 2) and matmul["out_shapes"] == [None, (3, 2)]
    assert matmul["out_norms"][1] == pytest.approx(np.linalg.norm(X.numpy().T @ np.ones((2, 2))))
    assert all(r["seconds"] >= 0 for r in log) and log.total_seconds >= 0
    line = log.lines()[1]
    assert re.match(r"matmul %1 +Ā = Z̄ Bᵀ,  B̄ = Aᵀ Z̄   Z̄ \(2, 2\) ‖2‖ → 1: \(3, 2\) ‖12\.88‖   [0-9.]+ ms", line), line


def test_explain_narrates_forward_mode_too():
    with tm.explain() as log:
        tm.jvp(lambda x: tm.exp(x * 2.0), (np.ones(2),), (np.ones(2),))
    assert [(r["direction"], r["op"]) for r in log] == [("forward", "mul"), ("forward", "exp")]


# ---------------------------------------------------------------- gradient checks


def test_gradcheck_passes_right_derivatives_and_shows_wrong_ones():
    A = np.random.default_rng(0).standard_normal((3, 3))
    assert tm.gradcheck(lambda a: tm.logdet(a @ a.mT + np.eye(3)), A, order=2)
    assert tm.gradcheck(lambda a, b: tm.sum(tm.solve(a + 3 * np.eye(3), b) ** 2), A, np.ones((3, 2)), modes=("rev",))

    @tm.custom_vjp
    def wrong_square(x):
        return x * x

    wrong_square.defvjp(lambda x: (x * x, x), lambda x, g: (3.0 * g * x,))
    with pytest.raises(tm.GradcheckError, match=r"gradcheck, reverse mode \(order 1\): got .*central differences give"):
        tm.gradcheck(lambda x: tm.sum(wrong_square(x)), np.ones(3), modes=("rev",))


def test_check_graph_finds_and_names_a_wrong_custom_op_inside_a_larger_computation():
    @tm.custom_vjp
    def wrong_square(x):
        return x * x

    wrong_square.defvjp(lambda x: (x * x, x), lambda x, g: (3.0 * g * x,))
    with tm.track_sites():
        x = tm.tensor([0.3, -1.2, 2.0], requires_grad=True)
        hidden = tm.sin(x) @ np.ones((3, 3))
        y = tm.exp(wrong_square(hidden)).sum()  # the wrong op, between right ones
    with pytest.raises(tm.GradcheckError, match=r"the reverse rule of node %3 \(wrong_square\), created at .*test_inspection\.py:\d+"):
        tm.check_graph(y)
    with tm.track_sites():
        fine = (tm.exp(tm.sin(x) @ np.ones((3, 3))) * 2.0).sum()
    assert tm.check_graph(fine) == 5


# ---------------------------------------------------------------- hooks


def hooked_graph(lib, tensor):
    """A graph where hooks replace gradients: x → y = 3x (hook ×2, retained) → z = y·y + x."""
    calls = []
    x = tensor([1.0, 2.0])
    y = x * 3
    y.retain_grad()
    y.register_hook(lambda g: calls.append(("y first", g.tolist())) or g * 2)
    y.register_hook(lambda g: calls.append(("y second", g.tolist())))
    x.register_hook(lambda g: calls.append(("x", g.tolist())) or g + 1)
    (y * y + x).sum().backward()
    return x.grad.tolist(), y.grad.tolist(), calls


def test_hooks_replace_gradients_in_order_and_retain_grad_keeps_the_final_one():
    x_grad, y_grad, calls = hooked_graph(tm, lambda v: tm.tensor(v, requires_grad=True))
    # y's gradient 2y = [6, 12] doubled by the first hook; x gets 3·[12, 24] + 1, then its hook adds 1
    assert calls == [("y first", [6.0, 12.0]), ("y second", [12.0, 24.0]), ("x", [37.0, 73.0])]
    assert y_grad == [12.0, 24.0] and x_grad == [38.0, 74.0]
    handle_x = tm.tensor([1.0], requires_grad=True)
    handle = handle_x.register_hook(lambda g: g * 100)
    handle.remove()
    (handle_x * 2).sum().backward()
    assert handle_x.grad.tolist() == [2.0]


# PyTorch is an optional oracle (several hundred MB, never in the test extra); the closed forms above run everywhere.
@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="PyTorch is an optional oracle (pip install torch==2.13.0); the expected values above stand")
def test_hooks_behave_as_pytorchs_on_the_same_graph():
    import torch

    ours = hooked_graph(tm, lambda v: tm.tensor(v, requires_grad=True))
    theirs = hooked_graph(torch, lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True))
    assert ours == theirs


# ---------------------------------------------------------------- anomaly detection


def test_detect_anomaly_names_the_op_the_direction_and_the_line():
    with tm.detect_anomaly(), np.errstate(divide="ignore"):
        with pytest.raises(tm.AnomalyError, match=r"log \(forward\) produced inf from finite inputs; created at .*test_inspection\.py:\d+"):
            tm.log(tm.tensor([0.0, 1.0], requires_grad=True))
        x = tm.tensor([0.0, 4.0], requires_grad=True)
        y = tm.sqrt(x).sum()
        with np.errstate(divide="ignore"), pytest.raises(
            tm.AnomalyError, match=r"sqrt \(backward\) produced inf in the cotangent of input 0 .* created at .*test_inspection\.py:\d+"):
            y.backward()
    with np.errstate(divide="ignore"):
        tm.log(tm.tensor([0.0]))  # outside: nothing checks, nothing raises
    with tm.detect_anomaly():
        tm.log(tm.tensor([np.nan]))  # NaN in, NaN out: not this op's doing


# ---------------------------------------------------------------- the command line


def test_identities_on_the_command_line():
    out = subprocess.run([sys.executable, "-m", "tinygrad_mat", "identities", "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    assert [r["id"] for r in results] == [f"N{i}" for i in range(1, 18)] + [f"R{i}" for i in range(1, 11)]
    assert all(r["status"] == "ok" for r in results), [r for r in results if r["status"] != "ok"]
    ops = subprocess.run([sys.executable, "-m", "tinygrad_mat", "ops"], capture_output=True, text=True, check=True).stdout
    assert "| matmul | `a @ b`" in ops and "| softmax |" in ops


def test_the_readme_picture_script_runs_with_and_without_graphviz(tmp_path):
    """Without a path it writes nothing; with one it draws (Graphviz's dot installed) or writes the DOT
    text beside it (no dot: a newcomer's machine), and says so."""
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "draw_graph.py"
    listing = "%1 = matmul(X : (3, 2), w : (2,)) -> (3,)"
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert listing in out.stdout and not list(tmp_path.iterdir())
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "graph.png")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    if shutil.which("dot") and importlib.util.find_spec("graphviz"):
        assert (tmp_path / "graph.png").stat().st_size > 0
    else:
        assert "dot" in out.stdout and (tmp_path / "graph.dot").read_text().startswith("digraph")


# ---------------------------------------------------------------- the study tools tell the truth


def test_check_graph_accepts_a_constant_exponent_at_negative_values():
    """The false alarm: ln X of the constant exponent was checked, so every w ** 2 penalty failed."""
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((8, 3)), rng.standard_normal(8)
    w = tm.tensor([-1.5, 0.3, -2.0], requires_grad=True)
    loss = ((X @ w - y) ** 2).mean() + 0.1 * (w ** 2).sum()
    assert tm.check_graph(loss) == 8
    assert tm.check_graph((2.0 ** w).sum()) == 2
    base = tm.tensor([1.5, 2.0], requires_grad=True)
    exponent = tm.tensor([0.5, -1.0], requires_grad=True)  # both differentiated: both checked
    assert tm.check_graph((base ** exponent).sum()) == 2


def test_explain_numbers_each_rule_as_the_graph_does():
    X = np.arange(6.0).reshape(3, 2)
    w = tm.tensor([0.5, -1.0], requires_grad=True)
    loss = ((X @ w - 1.0) ** 2).sum()
    listing = {line.split(" = ")[0]: line.split(" = ")[1].split("(")[0] for line in str(tm.graph(loss)).splitlines()
               if line.startswith("%")}
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), tm.explain(print_rules=True) as log:
        loss.backward()
    labels = [line.split()[:2] for line in printed.getvalue().splitlines()]
    assert labels == [["sum", "%4"], ["pow", "%3"], ["sub", "%2"], ["matmul", "%1"]]
    assert all(listing[number] == op for op, number in labels)  # the same %k as tm.graph's listing
    assert [line.split()[:2] for line in log.lines()] == labels


def test_explain_numbers_forward_mode_in_execution_order_without_internal_levels():
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), tm.explain(print_rules=True):
        tm.jvp(lambda x: tm.exp(x * 2.0) + x, (np.ones(2),), (np.ones(2),))
    text = printed.getvalue()
    assert [line.split()[:2] for line in text.splitlines()] == [["mul", "%1"], ["exp", "%2"], ["add", "%3"]]
    assert "%?" not in text and "level" not in text


def test_graph_names_numpy_constants():
    small, large = np.array([[1.0, 2.0], [3.0, 4.0]]), np.ones((40, 30))
    W = tm.tensor(np.ones((2, 2)), requires_grad=True)
    V = tm.tensor(np.ones((30, 2)), requires_grad=True)
    y = (small @ W).sum() + (large @ V).sum()
    text = str(tm.graph(y, names={"A": small, "B": large, "W": W}))
    assert "matmul(A : (2, 2), W : (2, 2))" in text and "matmul(B : (40, 30), p1 : (30, 2))" in text


class _PlantedSquare(tm.ops.Op):
    """x², with a reverse rule, a forward rule and their derivatives that a test can break one at a time."""

    name = "planted_square"

    def __init__(self, vjp_scale=2.0, jvp_scale=2.0, rules_differentiable=True):
        self.vjp_scale, self.jvp_scale, self.differentiable = vjp_scale, jvp_scale, rules_differentiable

    def _x(self, xp, x):  # the input, or its values as a constant: then the rules have no derivative
        return x if self.differentiable else xp.constant(np.array(xp.value(x)))

    def forward(self, x):
        return x * x

    def vjp(self, xp, g, inputs, out, needs):
        return (g * self.vjp_scale * self._x(xp, inputs[0]),)

    def jvp(self, xp, tangents, inputs, out):
        return tangents[0] * self.jvp_scale * self._x(xp, inputs[0])


def _planted(**options):
    from tinygrad_mat.tensor import apply

    op = _PlantedSquare(**options)
    return lambda x: tm.sum(tm.sin(apply(op, (x,))))


@pytest.mark.parametrize("modes", [("rev",), ("fwd",), ("rev", "fwd")])
def test_gradcheck_accepts_right_rules(modes):
    x = np.array([0.3, -0.8, 1.1])
    assert tm.gradcheck(_planted(), x, modes=modes, order=2)


def test_gradcheck_rejects_a_wrong_forward_rule():
    x = np.array([0.3, -0.8, 1.1])
    wrong_forward = _planted(jvp_scale=3.0)
    assert tm.gradcheck(wrong_forward, x, modes=("rev",), order=1)  # the reverse rule is right
    with pytest.raises(tm.GradcheckError, match=r"forward mode \(order 1\)"):
        tm.gradcheck(wrong_forward, x)


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_gradcheck_rejects_a_ten_percent_error(mode):
    x = np.array([0.3, -0.8, 1.1])
    option = "vjp_scale" if mode == "rev" else "jvp_scale"
    with pytest.raises(tm.GradcheckError, match=r"order 1"):
        tm.gradcheck(_planted(**{option: 2.2}), x, modes=(mode,))


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_gradcheck_rejects_a_wrong_second_derivative(mode):
    x = np.array([0.3, -0.8, 1.1])
    frozen = _planted(rules_differentiable=False)  # right first derivatives, second derivatives lost
    assert tm.gradcheck(frozen, x, modes=(mode,), order=1)
    with pytest.raises(tm.GradcheckError, match=r"order 2"):
        tm.gradcheck(frozen, x, modes=(mode,), order=2)


def test_check_graph_rejects_planted_rules():
    x = tm.tensor([0.3, -0.8, 1.1], requires_grad=True)
    assert tm.check_graph(_planted()(x)) == 3
    for options, rule in [(dict(vjp_scale=2.2), "reverse"), (dict(jvp_scale=2.2), "forward")]:
        with pytest.raises(tm.GradcheckError, match=rf"the {rule} rule of node %1 \(planted_square\)"):
            tm.check_graph(_planted(**options)(x))


def test_hooks_and_retained_gradients_die_with_their_tensor():
    """retain_grad() once kept its Tensor alive for good (its store closed over it): the engine then
    looked for hooks on every node, and tm.compile ran every step eagerly, for the rest of the process."""
    import gc

    from tinygrad_mat import observe

    gc.collect()
    assert not observe.hooked()
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    y.register_hook(lambda g: g * 2)
    (y * y).sum().backward()
    assert observe.hooked()
    del x, y
    gc.collect()
    assert not observe.hooked()
