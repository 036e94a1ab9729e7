import CMartyShims

/// An open-addressing table of a family's series that readers probe without a lock.
///
/// Slots hold unretained series pointers (the family keeps every series alive), 0 for
/// empty or 1 for a removed entry. Only writers holding the family's lock store into a
/// table; when it fills up they build a larger one and publish it with a release store.
/// Old tables are kept until the family goes away, so a reader still probing one is safe.
final class SeriesTable {
    static let empty: UInt = 0
    static let removed: UInt = 1

    let mask: Int
    let slots: UnsafeMutablePointer<UInt>
    /// Occupied slots, removed ones included (they still lengthen probes).
    var used = 0

    init(capacity: Int) {
        mask = capacity - 1
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: Self.empty, count: capacity)
    }

    deinit { slots.deallocate() }

    var capacity: Int { mask + 1 }

    /// Inserts without checking for an existing entry; the caller holds the family's lock.
    func insert(_ series: SeriesBase) {
        var index = Int(truncatingIfNeeded: series.hash) & mask
        while slots[index] != Self.empty { index = (index + 1) & mask }
        let word = UInt(bitPattern: Unmanaged.passUnretained(series).toOpaque())
        cmarty_store_release_word(slots + index, word)
        used += 1
    }

    /// Marks the slot holding `series` as removed.
    func remove(_ series: SeriesBase) {
        let word = UInt(bitPattern: Unmanaged.passUnretained(series).toOpaque())
        var index = Int(truncatingIfNeeded: series.hash) & mask
        while slots[index] != Self.empty {
            if slots[index] == word {
                cmarty_store_release_word(slots + index, Self.removed)
                return
            }
            index = (index + 1) & mask
        }
    }
}
