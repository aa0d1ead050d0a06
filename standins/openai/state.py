"""What the stand-in's application keeps (aiohttp AppKeys)."""

from aiohttp import web

from standins.openai.speech import Speech

API_KEY = web.AppKey("api_key", str)
SPEECH = web.AppKey("speech", Speech)
REQUESTS = web.AppKey("requests", list)  # the request log, oldest first
FAULTS = web.AppKey("faults", list)  # faults still to answer
