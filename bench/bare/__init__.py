"""Server B: bare Channels (daphne + a stock AsyncJsonWebsocketConsumer) speaking the same protocol."""
