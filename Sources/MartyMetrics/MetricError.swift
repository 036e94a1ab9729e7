/// Why a call was refused. `message` names the rule or the clash; the C interface maps `kind`
/// to the status codes of its header.
public struct MetricError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The rule a refused call broke; one kind per status code of the C interface.
    public enum Kind: Sendable {
        /// A metric or health check name is empty or breaks `[a-zA-Z_:][a-zA-Z0-9_:]*`.
        case invalidName
        /// A label name is empty, breaks `[a-zA-Z_][a-zA-Z0-9_]*`, starts with `__`, is given
        /// twice, or is `le` on a histogram.
        case invalidLabel
        /// The number of label values differs from the family's number of label names.
        case labelCount
        /// A string given as bytes (a C caller's label value) is not valid UTF-8.
        case invalidUTF8
        /// The value is not allowed here: a negative counter increment, a NaN observation.
        case invalidValue
        /// The name is already registered, or one of the family's sample names (`_total`,
        /// `_bucket`, …) is exposed by a registered family.
        case conflict
        /// There is no such series, family registration or health check to remove.
        case notFound
        /// Histogram bounds are not finite, not strictly increasing, or too many.
        case invalidBuckets
        /// The family is of another kind than the call needs (raised by the C interface).
        case wrongKind
        /// An argument is out of its range: a port, a limit, a bind address, a NULL label value.
        case invalidArgument
        /// A port the endpoint was to listen on is taken.
        case addressInUse
        /// The operating system refused (socket, bind, thread creation, …).
        case system
        /// A fixed-size store has no room left: the segment that pre-fork workers share.
        case full
    }

    /// The rule that was broken.
    public let kind: Kind
    /// A readable explanation naming the metric and the offending value; also the `description`.
    public let message: String

    /// An error of `kind` explained by `message`.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
