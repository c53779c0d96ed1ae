"""The test kit: one way, for every test package, to start a foredeck server, make git
repositories, send signed webhooks and wait for what a server does."""
