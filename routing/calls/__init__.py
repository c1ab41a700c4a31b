"""Calls on a session: the inbound decision, the outbound call, carrier reports, history, billing, TwiML."""
