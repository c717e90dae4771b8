// The stores (`Store`, `FileStore`, `TCPStore`, `InMemoryStore`, `PrefixStore`) and
// `LaunchConfiguration` appear in the communicator's initializers: a program that imports
// `Collectives` sees them without naming the module that holds them, which is in no product.
@_exported import CollectivesRendezvous
