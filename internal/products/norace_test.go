//go:build !race

package products_test

// raceSlowdown scales timing expectations: 1 without the race detector.
const raceSlowdown = 1
