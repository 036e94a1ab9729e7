/// Why a call was refused. `message` names the rule or the clash; the C layer maps `kind`
/// to its status codes.
public struct MetricError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Kind: Int, Sendable {
        case invalidName = 2
        case invalidLabel = 3
        case labelCount = 4
        case invalidUTF8 = 5
        case invalidValue = 6
        case conflict = 7
        case notFound = 8
        case invalidBuckets = 9
        case wrongKind = 10
        case invalidArgument = 11
        /// A port the endpoint was to listen on is taken.
        case addressInUse = 12
        /// The operating system refused (socket, bind, thread creation, …).
        case system = 13
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
