// swift-format-ignore-file: AlwaysUseLowerCamelCase
// (the Swift functions carry the C names they export, as the header spells them)

import CMartyRecording
import MartyMetrics

// marty_collector* is the address of a FamilyCollector that its registry holds; it is compared,
// never dereferenced, so a stale one is refused. marty_collection* is an unretained
// CollectionBuilder, valid during one callback.

/// What a C callback adds during one call.
final class CollectionBuilder {
    var families: [CollectedFamily] = []
}

/// A C callback and its user data: the caller vouches that both may be used from any thread.
private struct CollectCallback: @unchecked Sendable {
    let function: marty_collect_callback
    let userData: UnsafeMutableRawPointer?
}

private func builder(_ pointer: OpaquePointer) -> CollectionBuilder {
    Unmanaged<CollectionBuilder>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
}

@_cdecl("marty_registry_add_collector")
public func marty_registry_add_collector(
    _ registryPointer: OpaquePointer?, _ callback: marty_collect_callback?, _ userData: UnsafeMutableRawPointer?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    guard let registryPointer else { return nullArgument("marty_registry_add_collector", "registry") }
    guard let callback else { return nullArgument("marty_registry_add_collector", "callback") }
    guard let out else { return nullArgument("marty_registry_add_collector", "out") }
    let call = CollectCallback(function: callback, userData: userData)
    let collector = registry(registryPointer).addFamilyCollector { families in
        let builder = CollectionBuilder()
        withExtendedLifetime(builder) {
            call.function(call.userData, OpaquePointer(Unmanaged.passUnretained(builder).toOpaque()))
        }
        families.append(contentsOf: builder.families)
    }
    out.pointee = OpaquePointer(Unmanaged.passUnretained(collector).toOpaque())
    return MARTY_OK.code
}

@_cdecl("marty_registry_remove_collector")
public func marty_registry_remove_collector(_ registryPointer: OpaquePointer?, _ collector: OpaquePointer?) -> Int32 {
    guard let registryPointer else { return nullArgument("marty_registry_remove_collector", "registry") }
    guard let collector else { return nullArgument("marty_registry_remove_collector", "collector") }
    do throws(MetricError) {
        try registry(registryPointer).removeFamilyCollector(at: UnsafeRawPointer(collector))
        return MARTY_OK.code
    } catch {
        return fail(error, in: "marty_registry_remove_collector")
    }
}

@_cdecl("marty_collection_add_family")
public func marty_collection_add_family(
    _ collection: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ help: UnsafePointer<CChar>?, _ type: Int32,
    _ unit: UnsafePointer<CChar>?
) -> Int32 {
    let function: StaticString = "marty_collection_add_family"
    guard let collection else { return nullArgument(function, "collection") }
    guard let kind = CollectedFamily.Kind(headerValue: type) else {
        return fail(MARTY_ERR_INVALID_ARGUMENT, "\(function): type \(type) is not a marty_collected_type (0...7)")
    }
    return catching(function) {
        let name = try string(name, function, "name").get()
        let help = try string(help, function, "help").get()
        let unit = try unit.map { try string($0, function, "unit").get() } ?? ""
        if name.isEmpty { throw MetricError(.invalidName, "the family name is empty") }
        if unit.contains(where: { $0 == " " || $0.isNewline }) {
            throw MetricError(.invalidName, "the unit \"\(unit)\" holds a space or a line break")
        }
        builder(collection).families.append(CollectedFamily(name: name, help: help, kind: kind, unit: unit))
    }
}

/// Label names and values of a collected sample or exemplar, checked.
private func labelPairs(
    _ names: UnsafePointer<UnsafePointer<CChar>?>?, _ values: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int,
    _ function: StaticString
) throws -> [(name: String, value: String)] {
    let names = try strings(names, count, function, "label_names").get()
    let values = try strings(values, count, function, "label_values").get()
    if names.contains(where: \.isEmpty) { throw MetricError(.invalidName, "a label name is empty") }
    return Array(zip(names, values)).map { (name: $0.0, value: $0.1) }
}

/// A C timestamp: NaN (or any non-finite value) for none.
private func timestamp(_ seconds: Double) -> Double? { seconds.isFinite ? seconds : nil }

@_cdecl("marty_collection_add_sample")
public func marty_collection_add_sample(
    _ collection: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ labelNames: UnsafePointer<UnsafePointer<CChar>?>?,
    _ labelValues: UnsafePointer<UnsafePointer<CChar>?>?, _ labelCount: Int, _ value: Double, _ time: Double
) -> Int32 {
    let function: StaticString = "marty_collection_add_sample"
    guard let collection else { return nullArgument(function, "collection") }
    let builder = builder(collection)
    guard !builder.families.isEmpty else {
        return fail(MARTY_ERR_INVALID_ARGUMENT, "\(function): no family was started (marty_collection_add_family)")
    }
    return catching(function) {
        let name = try string(name, function, "name").get()
        if name.isEmpty { throw MetricError(.invalidName, "the sample name is empty") }
        let labels = try labelPairs(labelNames, labelValues, labelCount, function)
        builder.families[builder.families.count - 1].samples.append(
            CollectedSample(name: name, labels: labels, value: value, timestamp: timestamp(time)))
    }
}

@_cdecl("marty_collection_set_exemplar")
public func marty_collection_set_exemplar(
    _ collection: OpaquePointer?, _ labelNames: UnsafePointer<UnsafePointer<CChar>?>?,
    _ labelValues: UnsafePointer<UnsafePointer<CChar>?>?, _ labelCount: Int, _ value: Double, _ time: Double
) -> Int32 {
    let function: StaticString = "marty_collection_set_exemplar"
    guard let collection else { return nullArgument(function, "collection") }
    let builder = builder(collection)
    guard let family = builder.families.indices.last, !builder.families[family].samples.isEmpty else {
        return fail(MARTY_ERR_INVALID_ARGUMENT, "\(function): no sample was added (marty_collection_add_sample)")
    }
    return catching(function) {
        let labels = try labelPairs(labelNames, labelValues, labelCount, function)
        // The checks of a recorded exemplar: legacy names, each once, 128 characters in all.
        _ = try Exemplar(labels: labels.map { ExemplarLabel(name: $0.name, value: $0.value) })
        let sample = builder.families[family].samples.count - 1
        builder.families[family].samples[sample].exemplar = CollectedExemplar(
            labels: labels, value: value, timestamp: timestamp(time))
    }
}
