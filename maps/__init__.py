"""Interactive folium maps of Regions, Plans and Routes that work offline (no solving here)."""
