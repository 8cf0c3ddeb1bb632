-- wrk script for scale-out: two-turn WebChat conversations (ask-name pack). Requests come in
-- windows of 256: a window of first turns ("hi", 256 new conversations), then a window of
-- their second turns ("Ada"), so a conversation's answer is sent 256 requests after its
-- question (long after it was answered at <= 32 requests in flight). Every activity id is
-- new (the runner drops repeated ids as duplicates). The first script argument prefixes the
-- ids, so several wrk processes never share a conversation.
local window = 256
local counter = -1
local prefix = "w"

init = function(args)
  if args[1] ~= nil then
    prefix = args[1]
  end
end

request = function()
  counter = counter + 1
  local block = math.floor(counter / window)
  local pos = counter % window
  local conversation = math.floor(block / 2) * window + pos
  local text = "hi"
  if block % 2 == 1 then
    text = "Ada"
  end
  local body = string.format(
    '{"type":"message","id":"%s-%d","channelId":"webchat","text":"%s",' ..
    '"from":{"id":"%s-user-%d"},"conversation":{"id":"%s-conv-%d"},' ..
    '"recipient":{"id":"bot"},"serviceUrl":"http://127.0.0.1/"}',
    prefix, counter, text, prefix, conversation, prefix, conversation)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
