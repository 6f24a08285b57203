"""Routing: vehicle routing with time windows on PyVRP, street patrols planned on a region, home-visit
rounds for elders living alone, and patrol hotspots found in case records."""
