"""Model families; importing this package registers every family with the zoo."""

from zoo import toy  # noqa: F401  (the toy-source lab of seed 004)
from zoo.models import channelwise, factorized, hyperprior, joint, mean_scale  # noqa: F401
