/// Why a call was refused. `message` names the rule or the clash; the C interface maps `kind`
/// to the status codes of its header.
public struct MetricError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        case invalidName
        case invalidLabel
        case labelCount
        case invalidUTF8
        case invalidValue
        case conflict
        case notFound
        case invalidBuckets
        case wrongKind
        case invalidArgument
        /// A port the endpoint was to listen on is taken.
        case addressInUse
        /// The operating system refused (socket, bind, thread creation, …).
        case system
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
