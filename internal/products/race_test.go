//go:build race

package products_test

// raceSlowdown scales timing expectations: the race detector makes the
// code several times slower.
const raceSlowdown = 10
