/// A series of an info family: its label values are the information, its value always 1.
// @unchecked Sendable: no state beyond SeriesBase's immutable identity (a subclass cannot be checked Sendable).
public final class InfoSeries: SeriesBase, @unchecked Sendable {}
