"""Click sets, disk encoding, distance transform and click simulation."""

from graco_jax.interaction.clicks import (ClickSet, add_click, empty_clicks,
                                          from_official_points, to_official_points)
from graco_jax.interaction.encoding import disk_maps
