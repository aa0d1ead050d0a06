"""The room-scoped Cloudflare Calls proxy: its rules (`rules`), its API views (`apis`, routed by
`urls`) and the closing of a participant's Calls sessions when the room lets them go
(`sessions`). It checks every request against the room state, so it lives on the rooms side."""
