"""Search: optimizer adapters, proposers, strategies, the archive, Pareto fronts and the returned recipes."""

from ._archive import Archive, read_objectives
from ._match import ROUND, Deadline, SearchResult, search
from ._optimizers import OPTIMIZERS, make_optimizer, register_optimizer
from ._pareto import fronts, pareto_ranks
from ._recipes import NEAR_BEST, near_best, recipe_diff, returned_set, select_recipes
from ._refine import READING_COST, Reading, Refinement, choose_reading, refine_analysis, refine_cost
from ._strategy import PROPOSERS, OptimizerSpec, ProposerSpec, Strategy, canonical_definition, load_strategy, propose

__all__ = [
    "canonical_definition",
    "choose_reading",
    "READING_COST",
    "Reading",
    "Archive",
    "Deadline",
    "SearchResult",
    "OPTIMIZERS",
    "OptimizerSpec",
    "PROPOSERS",
    "ProposerSpec",
    "NEAR_BEST",
    "ROUND",
    "Refinement",
    "Strategy",
    "load_strategy",
    "make_optimizer",
    "near_best",
    "fronts",
    "pareto_ranks",
    "propose",
    "read_objectives",
    "refine_analysis",
    "refine_cost",
    "recipe_diff",
    "register_optimizer",
    "returned_set",
    "search",
    "select_recipes",
]
