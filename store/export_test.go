package store

// WrapGCS exposes wrapGCS to the tests of package store_test, which may
// import store/storetest (itself importing store) where package store's own
// tests may not.
var WrapGCS = wrapGCS

// SlotBacklog makes s keep a backlog hash per hash slot, as it does on a
// Redis Cluster client, so that tests on one Redis cover that layout too.
func SlotBacklog(s *RedisOperations) { s.slotted = true }

// KeySlot exposes keySlot.
var KeySlot = keySlot
