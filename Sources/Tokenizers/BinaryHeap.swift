// A minimal binary heap, the work queue of both merge loops (SentencePiece scores, long BPE words).

/// A binary heap ordered by `comesFirst` (the element for which it holds against all others is on top).
struct BinaryHeap<Element> {
    private var items: [Element] = []
    private let comesFirst: (Element, Element) -> Bool

    init(by comesFirst: @escaping (Element, Element) -> Bool) { self.comesFirst = comesFirst }

    var isEmpty: Bool { items.isEmpty }

    mutating func push(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if !comesFirst(items[i], items[parent]) { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var best = i
            if l < items.count && comesFirst(items[l], items[best]) { best = l }
            if r < items.count && comesFirst(items[r], items[best]) { best = r }
            if best == i { break }
            items.swapAt(i, best)
            i = best
        }
        return top
    }
}
