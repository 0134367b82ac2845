"""Microsoft Graph: app-only sign-in with MSAL and the calendar endpoints the gig calendar sync uses."""
