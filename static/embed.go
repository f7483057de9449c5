// Package static embeds the console's CSS, JavaScript (htmx, vendored) and images.
package static

import "embed"

// FS holds css/, js/ and img/ (paths relative to this folder).
//
//go:embed css js
var FS embed.FS
