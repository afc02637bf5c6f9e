"""The running service: ASGI app, settings, background work and the command line."""
