"""Travel costs: points snapped to a road network, exact shortest paths by compiled Dijkstra kernels
(coverage within a cutoff, k nearest, matrices, paths, service areas), or straight-line estimates
for regions without roads.  Every answer says which kind of cost it is."""
