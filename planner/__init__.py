"""Computation: travel costs, location-allocation models and routing, on arrays it is given.

Never reads files or talks HTTP: :mod:`geodata` brings the data in, :mod:`maps` and :mod:`api`
take the results out.
"""
