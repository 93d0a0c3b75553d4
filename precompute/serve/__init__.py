"""Search with your own image: the query engine, the ASGI app and the API's types.

``query`` (the engine, also behind ``playground query``), ``app`` (the ASGI app behind ``playground serve``),
``schema`` (the API's typed answers).
"""
