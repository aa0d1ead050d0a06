"""Cloudflare: the Calls (Realtime SFU) HTTP client and its typed bodies (`calls_client`), and
the TURN credentials that make up a browser's ICE servers (`turn`)."""
