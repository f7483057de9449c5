package model

import (
	"reflect"
	"testing"
)

func TestPropagateToDevice(t *testing.T) {
	eg := []string{"location", "corporate_unit", "cost_center"}
	tests := []struct {
		name             string
		userOld, userNew Attributes
		device           Attributes
		want             []AttrChange
	}{
		{"changed key follows", Attributes{"location": "Berlin"}, Attributes{"location": "Paris"}, Attributes{"location": "Berlin"},
			[]AttrChange{{"location", "Berlin", "Paris"}}},
		{"device edited by hand keeps unchanged keys", Attributes{"location": "Berlin", "cost_center": "CC-1"}, Attributes{"location": "Paris", "cost_center": "CC-1"},
			Attributes{"location": "Rome", "cost_center": "CC-9"}, []AttrChange{{"location", "Rome", "Paris"}}},
		{"cleared value clears the device", Attributes{"cost_center": "CC-1"}, Attributes{}, Attributes{"cost_center": "CC-1"},
			[]AttrChange{{"cost_center", "CC-1", ""}}},
		{"device already holds the value", Attributes{"location": "Berlin"}, Attributes{"location": "Paris"}, Attributes{"location": "Paris"}, nil},
		{"no change, no effect", Attributes{"location": "Berlin"}, Attributes{"location": "Berlin"}, Attributes{}, nil},
		{"other attributes never propagate", Attributes{"title": "Eng"}, Attributes{"title": "Boss"}, Attributes{}, nil},
		{"several keys in egKeys order", Attributes{}, Attributes{"cost_center": "CC-2", "location": "Oslo", "corporate_unit": "U"}, Attributes{},
			[]AttrChange{{"location", "", "Oslo"}, {"corporate_unit", "", "U"}, {"cost_center", "", "CC-2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PropagateToDevice(eg, tt.userOld, tt.userNew, tt.device); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
