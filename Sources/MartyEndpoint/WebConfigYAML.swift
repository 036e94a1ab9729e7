import MartyMetrics

/// A YAML value of the subset web-config files use: block mappings and sequences, flow
/// sequences, plain, quoted and literal (`|`) scalars, comments. Anchors, aliases, tags,
/// flow mappings and complex keys are refused with the line they are on, rather than read
/// wrongly: a security configuration must mean what its author thinks.
indirect enum YAMLValue: Equatable {
    case null
    case scalar(String)
    case sequence([YAMLValue])
    case mapping([(key: String, value: YAMLValue)])

    static func == (lhs: YAMLValue, rhs: YAMLValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.scalar(let a), .scalar(let b)): return a == b
        case (.sequence(let a), .sequence(let b)): return a == b
        case (.mapping(let a), .mapping(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }
}

struct YAMLSubsetParser {
    struct Failure: Error {
        let line: Int
        let message: String
        var description: String { "line \(line): \(message)" }
    }

    private struct Line {
        let number: Int
        let indent: Int
        /// Without indentation, comment and trailing spaces; empty for blank and comment lines.
        let content: String
        let raw: Substring
    }

    private var lines: [Line] = []
    private var index = 0
    /// Blocks open now: nesting is bounded, so that no file can exhaust a thread's stack.
    private var depth = 0
    static let maximumDepth = 32

    /// Parses a whole document; an empty one is `.null`.
    static func parse(_ text: String) throws(Failure) -> YAMLValue {
        var parser = YAMLSubsetParser()
        try parser.split(text)
        parser.skipBlank()
        guard parser.index < parser.lines.count else { return .null }
        let value = try parser.block(indent: parser.lines[parser.index].indent)
        parser.skipBlank()
        if parser.index < parser.lines.count {
            let line = parser.lines[parser.index]
            if line.content == "..." || line.content == "---" {
                throw Failure(line: line.number, message: "only one YAML document is read")
            }
            throw Failure(line: line.number, message: "unexpected indentation")
        }
        return value
    }

    private mutating func split(_ text: String) throws(Failure) {
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let rawLine = raw.last == "\r" ? raw.dropLast() : raw
            var indent = 0
            for character in rawLine {
                if character == " " {
                    indent += 1
                } else if character == "\t" {
                    // Tabs are not indentation in YAML: a tab-indented line is a mistake, a
                    // blank or comment line with tabs is not.
                    let rest = rawLine.dropFirst(indent).drop { $0 == " " || $0 == "\t" }
                    if !rest.isEmpty && !rest.hasPrefix("#") {
                        throw Failure(line: number, message: "a tab in indentation")
                    }
                    break
                } else {
                    break
                }
            }
            let content = Self.stripComment(rawLine.dropFirst(indent))
            if number == 1 && content.hasPrefix("%") {
                throw Failure(line: number, message: "YAML directives are not supported")
            }
            lines.append(Line(number: number, indent: indent, content: content, raw: rawLine))
        }
        // A leading document marker is allowed; the document is what follows.
        if let first = lines.firstIndex(where: { !$0.content.isEmpty }), lines[first].content == "---" {
            lines[first] = Line(number: lines[first].number, indent: 0, content: "", raw: "")
        }
    }

    /// Removes a comment (`#` at the start or after a space, outside quotes) and trailing spaces.
    private static func stripComment(_ text: Substring) -> String {
        var quote: Character? = nil
        var previous: Character = " "
        var end = text.endIndex
        var position = text.startIndex
        while position < text.endIndex {
            let character = text[position]
            if let open = quote {
                if character == open {
                    if open == "'", text.index(after: position) < text.endIndex,
                        text[text.index(after: position)] == "'"
                    {
                        position = text.index(after: position)  // '' inside single quotes
                    } else {
                        quote = nil
                    }
                } else if open == "\"" && character == "\\" {
                    position = text.index(after: position)
                    if position == text.endIndex { break }
                }
            } else if character == "#" && (previous == " " || previous == "\t") {
                end = position
                break
            } else if (character == "\"" || character == "'") && Self.startsScalar(text[..<position]) {
                quote = character
            }
            previous = character
            position = text.index(after: position)
        }
        var content = text[..<end]
        while let last = content.last, last == " " || last == "\t" { content = content.dropLast() }
        return String(content)
    }

    /// Whether a quote at this point opens a quoted scalar: at the start, or after "- ", ": ",
    /// "[" or ", ".
    private static func startsScalar(_ before: Substring) -> Bool {
        var trimmed = before
        while let last = trimmed.last, last == " " || last == "\t" { trimmed = trimmed.dropLast() }
        guard let last = trimmed.last else { return true }
        if last == "[" || last == "," { return true }
        if (last == ":" || last == "-") && trimmed.count < before.count { return true }
        return false
    }

    private mutating func skipBlank() {
        while index < lines.count && lines[index].content.isEmpty { index += 1 }
    }

    private func isSequenceItem(_ line: Line) -> Bool {
        line.content == "-" || line.content.hasPrefix("- ")
    }

    private mutating func block(indent: Int) throws(Failure) -> YAMLValue {
        skipBlank()
        let line = lines[index]
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else {
            throw Failure(line: line.number, message: "nested deeper than \(Self.maximumDepth) levels")
        }
        return isSequenceItem(line) ? try sequence(indent: indent) : try mapping(indent: indent)
    }

    private mutating func sequence(indent: Int) throws(Failure) -> YAMLValue {
        var items: [YAMLValue] = []
        while true {
            skipBlank()
            guard index < lines.count, lines[index].indent == indent, isSequenceItem(lines[index]) else { break }
            let line = lines[index]
            index += 1
            let rest = line.content.dropFirst(1).drop(while: { $0 == " " })
            if rest.isEmpty {
                skipBlank()
                if index < lines.count && lines[index].indent > indent {
                    items.append(try block(indent: lines[index].indent))
                } else {
                    items.append(.null)
                }
            } else if Self.keySplit(rest) != nil && !rest.hasPrefix("\"") && !rest.hasPrefix("'") {
                throw Failure(line: line.number, message: "mappings inside sequences are not supported")
            } else {
                items.append(try inlineValue(String(rest), line: line))
            }
        }
        if index < lines.count && lines[index].indent > indent {
            throw Failure(line: lines[index].number, message: "unexpected indentation")
        }
        return .sequence(items)
    }

    private mutating func mapping(indent: Int) throws(Failure) -> YAMLValue {
        var entries: [(key: String, value: YAMLValue)] = []
        while true {
            skipBlank()
            guard index < lines.count, lines[index].indent == indent, !isSequenceItem(lines[index]) else { break }
            let line = lines[index]
            if line.content == "---" || line.content == "..." { break }
            index += 1
            guard let (rawKey, rawValue) = Self.keySplit(Substring(line.content)) else {
                throw Failure(line: line.number, message: "expected \"key: value\"")
            }
            let key = try Self.key(rawKey, line: line)
            if entries.contains(where: { $0.key == key }) {
                throw Failure(line: line.number, message: "key \"\(key)\" appears twice")
            }
            let text = rawValue.drop(while: { $0 == " " })
            let value: YAMLValue
            if text.isEmpty {
                skipBlank()
                if index < lines.count
                    && (lines[index].indent > indent || (lines[index].indent == indent && isSequenceItem(lines[index])))
                {
                    value = try block(indent: lines[index].indent)
                } else {
                    value = .null
                }
            } else if text.hasPrefix("|") {
                value = try literal(String(text), parentIndent: indent, line: line)
            } else {
                value = try inlineValue(String(text), line: line)
            }
            entries.append((key, value))
        }
        if index < lines.count && lines[index].indent > indent {
            throw Failure(line: lines[index].number, message: "unexpected indentation")
        }
        return .mapping(entries)
    }

    /// A literal block scalar (`|`, `|-`, `|+`): the lines indented past the key, verbatim.
    private mutating func literal(_ header: String, parentIndent: Int, line: Line) throws(Failure) -> YAMLValue {
        let chomping = header.dropFirst()
        guard chomping.isEmpty || chomping == "-" || chomping == "+" else {
            throw Failure(line: line.number, message: "block scalar header \"\(header)\" is not supported")
        }
        var body: [Substring] = []
        var blockIndent: Int? = nil
        while index < lines.count {
            let next = lines[index]
            let blank = next.raw.allSatisfy { $0 == " " }
            if !blank {
                if next.indent <= parentIndent { break }
                if blockIndent == nil { blockIndent = next.indent }
                if next.indent < blockIndent! {
                    throw Failure(line: next.number, message: "a literal block's line is indented less than its first")
                }
            }
            body.append(blank ? "" : next.raw.dropFirst(blockIndent!))
            index += 1
        }
        var trailingBlank = 0
        while let last = body.last, last.isEmpty {
            body.removeLast()
            trailingBlank += 1
        }
        var text = body.joined(separator: "\n")
        switch chomping {
        case "-": break
        case "+": text += String(repeating: "\n", count: trailingBlank + (body.isEmpty ? 0 : 1))
        default: if !body.isEmpty { text += "\n" }
        }
        // Lines the block took as blank are consumed; the mapping resumes after them.
        return .scalar(text)
    }

    /// Splits "key: value" at the first ": " (or a final ":") outside quotes.
    private static func keySplit(_ text: Substring) -> (Substring, Substring)? {
        var quote: Character? = nil
        var position = text.startIndex
        if let first = text.first, first == "\"" || first == "'" { quote = first }
        if quote != nil { position = text.index(after: position) }
        while position < text.endIndex {
            let character = text[position]
            if let open = quote {
                if character == open { quote = nil }
            } else if character == ":" {
                let next = text.index(after: position)
                if next == text.endIndex || text[next] == " " {
                    return (text[..<position], text[next...])
                }
            }
            position = text.index(after: position)
        }
        return nil
    }

    private static func key(_ raw: Substring, line: Line) throws(Failure) -> String {
        var key = raw
        while let last = key.last, last == " " { key = key.dropLast() }
        if key.hasPrefix("?") { throw Failure(line: line.number, message: "complex keys are not supported") }
        switch try scalar(String(key), line: line) {
        case .scalar(let text): return text
        default: throw Failure(line: line.number, message: "a key must be a string")
        }
    }

    private func inlineValue(_ text: String, line: Line) throws(Failure) -> YAMLValue {
        if text.hasPrefix("[") { return try Self.flowSequence(text, line: line) }
        if text == "{}" { return .mapping([]) }
        if text.hasPrefix("{") { throw Failure(line: line.number, message: "flow mappings are not supported") }
        if text.hasPrefix(">") { throw Failure(line: line.number, message: "folded block scalars are not supported") }
        return try Self.scalar(text, line: line)
    }

    private static func flowSequence(_ text: String, line: Line) throws(Failure) -> YAMLValue {
        guard text.hasSuffix("]") else {
            throw Failure(line: line.number, message: "a flow sequence must close on its line")
        }
        // Split at the commas outside quotes.
        var pieces: [String] = []
        var current = ""
        var quote: Character? = nil
        for character in text.dropFirst().dropLast() {
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "," {
                pieces.append(current)
                current = ""
                continue
            } else if (character == "\"" || character == "'") && current.trimmingSpaces.isEmpty {
                quote = character
            }
            current.append(character)
        }
        if quote != nil { throw Failure(line: line.number, message: "an unterminated quote") }
        pieces.append(current)
        // "[]", or a trailing comma, which YAML allows.
        if pieces.last!.trimmingSpaces.isEmpty { pieces.removeLast() }
        var items: [YAMLValue] = []
        for piece in pieces {
            let trimmed = piece.trimmingSpaces
            if trimmed.isEmpty { throw Failure(line: line.number, message: "an empty item in a flow sequence") }
            if trimmed.hasPrefix("[") || trimmed.hasPrefix("{") {
                throw Failure(line: line.number, message: "nested flow collections are not supported")
            }
            items.append(try scalar(trimmed, line: line))
        }
        return .sequence(items)
    }

    private static func scalar(_ text: String, line: Line) throws(Failure) -> YAMLValue {
        guard let first = text.first else { return .null }
        switch first {
        case "'":
            guard text.count >= 2, text.hasSuffix("'") else {
                throw Failure(line: line.number, message: "an unterminated single quote")
            }
            let inner = String(text.dropFirst().dropLast())
            var result = ""
            var pendingQuote = false
            for character in inner {
                if character == "'" {
                    if pendingQuote {
                        result.append("'")
                        pendingQuote = false
                    } else {
                        pendingQuote = true
                    }
                } else {
                    if pendingQuote { throw Failure(line: line.number, message: "a lone ' inside single quotes") }
                    result.append(character)
                }
            }
            if pendingQuote { throw Failure(line: line.number, message: "a lone ' inside single quotes") }
            return .scalar(result)
        case "\"":
            return .scalar(try doubleQuoted(text, line: line))
        case "&", "*", "!":
            throw Failure(line: line.number, message: "anchors, aliases and tags are not supported")
        case "@", "`", "%":
            throw Failure(line: line.number, message: "a plain value may not start with \(first)")
        default:
            if text == "~" || text == "null" || text == "Null" || text == "NULL" { return .null }
            return .scalar(text)
        }
    }

    private static func doubleQuoted(_ text: String, line: Line) throws(Failure) -> String {
        var scalars = Array(text.unicodeScalars.dropFirst())
        guard scalars.last == "\"" else { throw Failure(line: line.number, message: "an unterminated double quote") }
        scalars.removeLast()
        var result = String.UnicodeScalarView()
        var position = 0
        while position < scalars.count {
            let scalar = scalars[position]
            position += 1
            if scalar == "\"" { throw Failure(line: line.number, message: "text after a closing double quote") }
            guard scalar == "\\" else {
                result.append(scalar)
                continue
            }
            guard position < scalars.count else {
                throw Failure(line: line.number, message: "an escape at the end of a double-quoted value")
            }
            let escape = scalars[position]
            position += 1
            switch escape {
            case "\\": result.append("\\")
            case "\"": result.append("\"")
            case "/": result.append("/")
            case "n": result.append("\n")
            case "t": result.append("\t")
            case "r": result.append("\r")
            case "0": result.append("\0")
            case " ": result.append(" ")
            case "x", "u", "U":
                let digits = escape == "x" ? 2 : escape == "u" ? 4 : 8
                guard position + digits <= scalars.count,
                    let value = UInt32(
                        String(String.UnicodeScalarView(scalars[position..<position + digits])), radix: 16),
                    let decoded = Unicode.Scalar(value)
                else {
                    throw Failure(line: line.number, message: "a bad \\\(escape) escape")
                }
                result.append(decoded)
                position += digits
            default:
                throw Failure(line: line.number, message: "the escape \\\(escape) is not supported")
            }
        }
        return String(result)
    }
}
