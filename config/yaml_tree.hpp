#pragma once
// A read-only YAML document tree with the position of every node, parsed with libyaml.
//
// Why not yaml-cpp's YAML::Load: its scanner costs about 2 000 instructions per byte of input
// and every node is a web of shared_ptrs, so a file with 1000 triggers took ~70 ms to load
// and as long again to walk and free: most of triggerd's start-up (bench S7). libyaml's
// parser is a plain C state machine; the tree here is one arena of nodes that dies at once.
//
// Only what the config reader needs: the first document of a stream; scalars, sequences and
// mappings in file order (duplicate keys kept, for the reader to report); aliases resolved to
// the anchored node; plain, untagged scalars told apart from quoted ones (they carry their
// type by spelling), and null as YAML 1.2's core schema spells it (empty, ~, null).
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace triggerd::config::yaml {

enum class NodeType { kNull, kScalar, kSequence, kMap };

// 0-based, like libyaml's and yaml-cpp's marks.
struct Mark {
  int line = 0;
  int column = 0;
};

struct NodeData;

// A handle on a node: cheap to copy. Nodes of a parsed Document stay valid while the Document
// lives; a node made with Node::scalar() owns itself.
class Node {
 public:
  Node() = default;  // undefined: what a missing key gives
  static Node scalar(std::string text);

  bool IsDefined() const { return data_ != nullptr; }
  NodeType Type() const;
  bool IsNull() const { return Type() == NodeType::kNull; }
  bool IsScalar() const { return Type() == NodeType::kScalar; }
  bool IsSequence() const { return Type() == NodeType::kSequence; }
  bool IsMap() const { return Type() == NodeType::kMap; }
  // A scalar's text (empty for anything else).
  const std::string& Scalar() const;
  // Plain style and no tag: its spelling says its type (3, true, ~).
  bool IsPlain() const;
  Mark GetMark() const;

  // Sequences: the number of items and the i-th. Mappings: the number of entries.
  std::size_t size() const;
  Node operator[](std::size_t index) const;
  // Mappings: the i-th entry (key, value), in file order.
  std::pair<Node, Node> entry(std::size_t index) const;

 private:
  explicit Node(const NodeData* data) : data_(data) {}
  friend class Document;
  const NodeData* data_ = nullptr;
  std::shared_ptr<const NodeData> owned_;  // set only by scalar()
};

struct ParseError {
  std::string message;
  Mark mark;
};

// One parsed file. Not copyable: nodes point into it.
class Document {
 public:
  // Parses the first document of `text`. An empty stream gives a null root.
  static std::unique_ptr<Document> parse(std::string_view text, ParseError* error);

  Document(const Document&) = delete;
  Document& operator=(const Document&) = delete;

  Node root() const { return Node(root_); }

 private:
  Document() = default;
  friend class Builder;
  std::deque<NodeData> nodes_;  // stable addresses
  const NodeData* root_ = nullptr;
};

struct NodeData {
  NodeType type = NodeType::kNull;
  bool plain = false;
  Mark mark;
  std::string scalar;
  std::vector<const NodeData*> items;                                // sequence
  std::vector<std::pair<const NodeData*, const NodeData*>> entries;  // mapping
};

}  // namespace triggerd::config::yaml
