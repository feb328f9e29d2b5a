"""``python -m tinygrad_mat`` runs the demo."""
from .demo import main

main()
