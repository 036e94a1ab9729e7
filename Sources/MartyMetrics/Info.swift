/// A series of an info family: its label values are the information, its value always 1.
public final class InfoSeries: SeriesBase, @unchecked Sendable {}
