#include "config/yaml_tree.hpp"

#include <gtest/gtest.h>

namespace triggerd::config::yaml {
namespace {

std::unique_ptr<Document> parse_ok(std::string_view text) {
  ParseError error;
  auto document = Document::parse(text, &error);
  EXPECT_NE(document, nullptr) << error.message;
  return document;
}

TEST(YamlTree, PlainScalarsAreToldApartFromQuotedOnes) {
  auto document = parse_ok("a: 3\nb: \"3\"\nc: '~'\nd: !!str 3\n");
  Node root = document->root();
  ASSERT_TRUE(root.IsMap());
  ASSERT_EQ(root.size(), 4U);
  EXPECT_TRUE(root.entry(0).second.IsPlain());
  EXPECT_EQ(root.entry(0).second.Scalar(), "3");
  EXPECT_FALSE(root.entry(1).second.IsPlain());
  EXPECT_EQ(root.entry(1).second.Scalar(), "3");
  EXPECT_TRUE(root.entry(2).second.IsScalar());  // quoted: a string, not null
  EXPECT_EQ(root.entry(2).second.Scalar(), "~");
  EXPECT_FALSE(root.entry(3).second.IsPlain());  // tagged
}

TEST(YamlTree, NullIsSpelledEmptyTildeOrNull) {
  auto document = parse_ok("a:\nb: ~\nc: null\nd: NULL\ne: nil\n");
  Node root = document->root();
  for (std::size_t i = 0; i < 4; ++i) EXPECT_TRUE(root.entry(i).second.IsNull()) << i;
  EXPECT_TRUE(root.entry(4).second.IsScalar());
}

TEST(YamlTree, EntriesStayInFileOrderDuplicatesIncluded) {
  auto document = parse_ok("z: 1\na: 2\nz: 3\n");
  Node root = document->root();
  ASSERT_EQ(root.size(), 3U);
  EXPECT_EQ(root.entry(0).first.Scalar(), "z");
  EXPECT_EQ(root.entry(1).first.Scalar(), "a");
  EXPECT_EQ(root.entry(2).first.Scalar(), "z");
  EXPECT_EQ(root.entry(2).second.Scalar(), "3");
}

TEST(YamlTree, MarksAreZeroBasedLineAndColumnOfEachNode) {
  auto document = parse_ok("top:\n  key: [one, \"two\"]\n");
  Node key = document->root().entry(0).second.entry(0).first;
  Node list = document->root().entry(0).second.entry(0).second;
  EXPECT_EQ(key.GetMark().line, 1);
  EXPECT_EQ(key.GetMark().column, 2);
  EXPECT_EQ(list.GetMark().column, 7);
  ASSERT_EQ(list.size(), 2U);
  EXPECT_EQ(list[1].GetMark().column, 13);
  EXPECT_FALSE(list[2].IsDefined());
}

TEST(YamlTree, AliasesResolveToTheAnchoredNode) {
  auto document = parse_ok("base: &b {retries: 3}\nother: *b\n");
  Node other = document->root().entry(1).second;
  ASSERT_TRUE(other.IsMap());
  EXPECT_EQ(other.entry(0).second.Scalar(), "3");
}

TEST(YamlTree, AnAliasInsideItsOwnAnchorIsAnError) {
  ParseError error;
  EXPECT_EQ(Document::parse("a: &x\n  b: *x\n", &error), nullptr);
  EXPECT_EQ(error.message, "alias *x refers to a node that contains it");
  EXPECT_EQ(error.mark.line, 1);
}

TEST(YamlTree, AnUnknownAnchorIsAnError) {
  ParseError error;
  EXPECT_EQ(Document::parse("a: *nope\n", &error), nullptr);
  EXPECT_EQ(error.message, "unknown anchor *nope");
}

TEST(YamlTree, OnlyTheFirstDocumentIsRead) {
  auto document = parse_ok("a: 1\n---\nb: 2\n");
  ASSERT_EQ(document->root().size(), 1U);
  EXPECT_EQ(document->root().entry(0).first.Scalar(), "a");
}

TEST(YamlTree, AnEmptyStreamIsNull) {
  EXPECT_TRUE(parse_ok("")->root().IsNull());
  EXPECT_TRUE(parse_ok("# only a comment\n")->root().IsNull());
}

TEST(YamlTree, ASyntaxErrorSaysWhatAndWhere) {
  ParseError error;
  EXPECT_EQ(Document::parse("a: b: c\n", &error), nullptr);
  EXPECT_EQ(error.message, "mapping values are not allowed in this context");
  EXPECT_EQ(error.mark.line, 0);
  EXPECT_EQ(error.mark.column, 4);
}

TEST(YamlTree, AStandaloneScalarOwnsItsText) {
  Node node = Node::scalar("127.0.0.1:9092");
  Node copy = node;
  node = Node();
  EXPECT_EQ(copy.Scalar(), "127.0.0.1:9092");
  EXPECT_FALSE(node.IsDefined());
}

}  // namespace
}  // namespace triggerd::config::yaml
