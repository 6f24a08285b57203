"""The service's routers, one per resource; :func:`api.service.create_app` mounts them all."""
