package store

// WrapGCS exposes wrapGCS to the tests of package store_test, which may
// import store/storetest (itself importing store) where package store's own
// tests may not.
var WrapGCS = wrapGCS
