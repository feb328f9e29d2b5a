"""Tools for studying backprop: the graph as data (``tm.graph``), the backward pass narrated
(``tm.explain``), gradient checks (``tm.gradcheck``, ``tm.check_graph``), anomaly detection
(``tm.detect_anomaly``) and creation sites (``tm.track_sites``). They watch the engine through the
observer seam (``tinygrad_mat.observe``) and use the public surface otherwise."""
from .anomaly import AnomalyError, detect_anomaly, track_sites
from .explain import Explanation, explain
from .gradcheck import GradcheckError, check_graph, gradcheck
from .graph import Graph, graph

__all__ = ["graph", "Graph", "explain", "Explanation", "gradcheck", "check_graph", "GradcheckError",
           "detect_anomaly", "track_sites", "AnomalyError"]
