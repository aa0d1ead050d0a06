"""Consent to capture a visit (record it, transcribe it): the one home of the rule that nothing
is captured unless every admitted participant allows it (rooms.consent.rules), over the models'
shared shape (rooms.consent.models)."""
