package uploader

// ParseServerConfig exposes parseServerConfig to the external tests.
var ParseServerConfig = parseServerConfig
