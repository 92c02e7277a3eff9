// FlyingFox has a JSONValue of its own; the dashboard's JSON is always the store's, named here in a
// file that does not import FlyingFox so that the name is unambiguous.
import RunStore

typealias JSON = JSONValue
