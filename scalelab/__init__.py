"""scalelab: a scaling-law laboratory for language models.

Data flows one way: data -> model -> train -> ladder -> laws -> plan -> report.
The fitting layer (``scalelab.laws``) and the run table (``scalelab.runs``) never import torch.
"""

__version__ = "0.1.0"
