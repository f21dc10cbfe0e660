"""Voice channel: Twilio voice webhooks, TwiML rendering and the softphone."""
