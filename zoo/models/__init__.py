"""Model families; importing this package registers every family with the zoo."""

from zoo import toy  # noqa: F401  (the toy-source lab of seed 004)
from zoo.models import (  # noqa: F401
    channelwise,
    factorized,
    hierarchical,
    hyperprior,
    joint,
    ladder,
    learned_step,
    mean_scale,
    variable_rate_models,
    vq,
)
