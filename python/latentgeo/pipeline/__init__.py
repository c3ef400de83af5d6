"""scikit-learn pipeline steps without a scikit-learn dependency: the exact kNN graph
(:class:`KNNTransformer`, a ``KNeighborsTransformer`` drop-in), hubness reduction on a graph
(:class:`HubnessReduction`) and geodesic distances over a graph (:class:`GeodesicTransformer`).

They follow the scikit-learn estimator contract (``get_params``/``set_params``, ``clone``,
``fit``/``transform``/``fit_transform``, ``n_features_in_``, tags) and import scikit-learn only
when scikit-learn itself asks for their tags. A typical chain::

    Pipeline([("knn", KNNTransformer(n_neighbors=30)),
              ("hub", HubnessReduction("mp_gaussian", n_neighbors=10)),
              ("iso", Isomap(n_neighbors=10, metric="precomputed"))])
"""

from ._geodesic import GeodesicTransformer
from ._hubness import HubnessReduction
from ._knn import KNNTransformer

__all__ = ["KNNTransformer", "HubnessReduction", "GeodesicTransformer"]
