"""Local Binance-dialect spot venue: matching engine and accounts (engine), configuration (config), the synthetic
market shared by all venues (market), and the HTTP/WebSocket server that lets unmodified ccxt trade against it."""
