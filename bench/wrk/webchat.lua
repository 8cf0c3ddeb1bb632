-- wrk script for http-webchat: one WebChat message activity per request, each with a new
-- activity id (the runner drops repeated ids as duplicates) over 1,000 conversations.
local counter = 0

request = function()
  counter = counter + 1
  local who = counter % 1000
  local body = string.format(
    '{"type":"message","id":"bench-%d","channelId":"webchat","text":"hi",' ..
    '"from":{"id":"user-%d"},"conversation":{"id":"conv-%d"},' ..
    '"recipient":{"id":"bot"},"serviceUrl":"http://127.0.0.1/"}',
    counter, who, who)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
