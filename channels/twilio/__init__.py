"""What the Twilio channels (SMS, WhatsApp) share: credentials, the REST client and its errors,
signed webhooks, inbound message fields and media. Not a channel itself."""
