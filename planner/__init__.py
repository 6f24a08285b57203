"""Computation: travel costs, location-allocation models and routing, on arrays it is given.

* :mod:`planner.travel` — travel costs on a road network or in a straight line;
* :mod:`planner.location` — location problems and their solvers;
* :mod:`planner.routing` — patrol routes, home-visit rounds, hotspots;
* :mod:`planner.scenario` and :mod:`planner.report` — a planner's question on a Region, and the
  plan in the user's words.

Never reads files or talks HTTP: :mod:`geodata` brings the data in, :mod:`maps` and :mod:`api`
take the results out.
"""
